"""The data contract, one owner per concept: the envelope format, the layout of store keys, the zip format."""
