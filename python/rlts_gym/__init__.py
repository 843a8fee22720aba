"""rlts_gym: serves Gymnasium environments to rlts over ZeroMQ (see PROTOCOL.md)."""
