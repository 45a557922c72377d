"""Booting guests through libvirt: environments, probes, one boot, B x R runs; imports results, gate, profile."""
