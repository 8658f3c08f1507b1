"""Reading source extracts under their contracts."""
