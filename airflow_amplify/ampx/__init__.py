"""ampx tooling without AWS: the error model and parser (:mod:`.errors`), project and lock-file facts
and the branch stack's name (:mod:`.project`), the per-worker ``node_modules`` cache (:mod:`.cache`)."""
