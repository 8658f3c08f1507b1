"""The Fellegi-Sunter model: settings from config, training, versioned storage."""
