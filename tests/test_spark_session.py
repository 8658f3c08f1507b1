"""padan's Spark sessions (padan.spark): settings that decide what a small run costs."""

from __future__ import annotations


def test_building_expressions_sends_no_call_sites_to_the_jvm(spark, monkeypatch):
    """PySpark's call-site capture (a stack walk and four JVM round trips per Column function) is
    off in a session built from `local_session_conf`, as the suite's is: building an expression
    sends only the function calls themselves."""
    from py4j import clientserver
    from pyspark.errors.utils import is_debugging_enabled
    from pyspark.sql import functions as F

    from padan.spark import DEBUG_ORIGIN_CONF

    assert spark.conf.get(DEBUG_ORIGIN_CONF) == "false"
    sent = []
    original = clientserver.ClientServerConnection.send_command

    def recording(self, command):
        sent.append(command)
        return original(self, command)

    monkeypatch.setattr(clientserver.ClientServerConnection, "send_command", recording)
    expr = F.when(F.trim(F.col("name")) == "", None).otherwise(F.upper(F.col("name")))
    monkeypatch.undo()
    assert expr is not None and sent
    assert not is_debugging_enabled()
    assert not [c for c in sent if "PySparkCurrentOrigin" in c or "stackTracesInDataFrameContext" in c]


def test_the_driver_maps_the_class_archive_setup_built(spark):
    """`make setup` builds the driver JVM's class-data-sharing archive beside the staged jars
    (scripts/build_class_archive.py), and a session from `local_session_conf` maps it: most of the
    classes the JVM has loaded came from it instead of being parsed and verified again. (Without
    the archive only the JDK's own ~1,200 shared classes are in that count.)"""
    import os
    import subprocess
    from pathlib import Path

    import pytest

    from padan.spark import CLASS_ARCHIVE, CLASS_ARCHIVE_OFF, staged_jars_folder

    if os.environ.get(CLASS_ARCHIVE_OFF) == "0":
        pytest.skip(f"{CLASS_ARCHIVE_OFF}=0: drivers start without the archive")
    archive = staged_jars_folder() / CLASS_ARCHIVE
    assert archive.is_file(), "make setup did not build the class archive"
    jvm = spark._jvm
    args = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    assert f"-XX:SharedArchiveFile={archive}" in args
    jcmd = Path(jvm.java.lang.System.getProperty("java.home")) / "bin" / "jcmd"
    pid = str(jvm.java.lang.ProcessHandle.current().pid())
    counters = dict(line.split("=", 1) for line in subprocess.run(
        [str(jcmd), pid, "PerfCounter.print"], capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
        if "=" in line)
    shared, loaded = int(counters["java.cls.sharedLoadedClasses"]), int(counters["java.cls.loadedClasses"])
    assert shared > 5000 and shared > loaded, (shared, loaded)
