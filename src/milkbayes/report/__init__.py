"""Reports: one self-contained HTML file, Markdown, and a versioned JSON summary.

Rendering only: every number arrives computed from :mod:`milkbayes.reanalysis`.
"""
