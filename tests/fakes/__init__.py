"""Fakes only the tests use: a scripted ampx, node and ssh, Git remotes and a Git HTTP server."""
