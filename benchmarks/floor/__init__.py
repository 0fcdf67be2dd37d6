"""The floor: what the parts alone cost (calibration) and a bare chain of the same shape."""
