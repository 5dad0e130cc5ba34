"""Industry threat-intelligence sharing: STIX 2.1 export and import with TLP 2.0 markings."""
