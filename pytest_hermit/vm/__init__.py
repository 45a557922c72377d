"""Booting guests through libvirt: environments, probes, one boot, B boots x R reps; imports results, gate, leaves."""
