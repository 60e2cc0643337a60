"""The environment and files each framework's replicas expect, shared by both engines."""
