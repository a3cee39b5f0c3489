"""Flow export decoding: NetFlow v5/v9, IPFIX and sFlow v5 (bytes in, records out, no I/O)."""
