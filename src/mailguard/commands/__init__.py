"""One module per subcommand; shared helpers in :mod:`mailguard.commands.common`."""
