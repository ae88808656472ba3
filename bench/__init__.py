"""The benchmark (``make bench``): the service's speed and footprint against a bare Flask floor.

Not part of the product: run from the repository. ``bench.run`` orchestrates, ``bench.load``
is the load generator (a separate process), ``bench.floor`` the bare endpoint.
"""
