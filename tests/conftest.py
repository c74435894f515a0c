# tests/toy holds a synthetic claim that the harness's own tests copy into temporary projects; it is not a
# test of this package and must not be collected here.
collect_ignore = ["toy"]
