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
