"""Evidence packets: assembly, redaction, Bates numbering, PDF/A rendering, signing, sending."""
