"""Small generic helpers (camera projection, meshes, meters, seeding, images).

Nothing in this package knows about hands or objects, and nothing here imports handobjectconsist.
"""
