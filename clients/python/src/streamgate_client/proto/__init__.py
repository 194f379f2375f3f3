"""Generated protobuf and gRPC stubs for streamgate.v1. Regenerate with clients/python/regen.py."""
