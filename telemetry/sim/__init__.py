"""Simulators of robots that write ``telemetry.v1`` day zips with a known ground truth.

``telemetry.sim.cobot``: one collaborative robot arm at 1 Hz whose protective stops come every minute (dense
failures). The AMR fleet simulator is ``telemetry.sim.fleet``.
"""
