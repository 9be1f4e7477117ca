"""`python -m codeloop.execution.zygote CONFIG_JSON`: run a zygote."""

from codeloop.execution.zygote.serve import main

main()
