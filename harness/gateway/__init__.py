"""The gateway under test: profiles (what to run, its configuration, how to ask it things),
the Asterisk Manager Interface, and checks of a configuration before the topology starts."""
