"""The pure core of weapp-login: entities, errors, ports and use cases.

Imports only the standard library; the architecture check in the test suite fails otherwise.
"""
