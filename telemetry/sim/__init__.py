"""Simulators of robots that write ``telemetry.v1`` day zips with a known ground truth.

The AMR fleet, in the order of its data: :mod:`telemetry.sim.fleet` (:class:`~telemetry.sim.fleet.FleetSpec`,
:func:`~telemetry.sim.fleet.simulate_fleet`, the driver, the ground truth) runs per robot
:mod:`telemetry.sim.plan` (missions, duty cycle, failures and their precursors), :mod:`telemetry.sim.physics`
(signals on their own clocks), :mod:`telemetry.sim.upload` (envelopes and their serialisation) and
:mod:`telemetry.sim.faults` (upload faults, :class:`~telemetry.sim.faults.FaultRates`).
:mod:`telemetry.sim.cobot`: collaborative robot arms at 1 Hz whose protective stops come every minute (dense
failures). Both write day zips with :func:`telemetry.contract.ziplib.build_day_zip`.
"""
