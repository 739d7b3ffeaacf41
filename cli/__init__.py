"""The ``hodegos`` command line: a thin shell over the packages that own each decision."""
