"""MRT routing tables (RFC 6396): ribflow's one reader and writer.

:mod:`~ribflow.mrt.attributes` encodes and decodes BGP path attributes (widening the 2-byte AS
numbers of TABLE_DUMP to the 4-byte form, decoding them for people and for bgp-updates events);
:mod:`~ribflow.mrt.tables` reads TABLE_DUMP and TABLE_DUMP_V2 files and writes TABLE_DUMP_V2 for
``gobgp mrt inject`` (``python -m ribflow.mrt.tables IN OUT`` converts a file).
"""
