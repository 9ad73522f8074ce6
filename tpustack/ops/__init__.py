"""Operations on stacks and results: ``diff`` (a change's effect on every stack), ``reap`` (the TTL reaper),
``report`` (compare benchmark runs)."""
