"""Composition roots: build each function's use case from its settings and adapters. The only package that
imports adapters/."""
