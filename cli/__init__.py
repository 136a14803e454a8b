"""The ``wangge`` command line, one module per group of commands; nothing imports this package."""
