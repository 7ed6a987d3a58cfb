"""Pure maths over what the probes measured: statistics, the E-model. No sockets, no clocks."""
