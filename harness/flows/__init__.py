"""Call-flow drivers: set the peers' behaviour, place the call, collect what it left."""
