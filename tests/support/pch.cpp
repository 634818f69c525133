// Exists only to build the precompiled header the integration tests share.
