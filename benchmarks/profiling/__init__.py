"""Where the time goes: CPU profiles of a running stack, sampled from outside (py-spy)."""
