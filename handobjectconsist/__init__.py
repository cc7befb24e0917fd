"""handobjectconsist: sparsely supervised hand-object reconstruction with photometric consistency over time.

A re-implementation of Hasson et al., CVPR 2020. See README.md for the layout and conventions.
"""

__version__ = "0.1.0"
