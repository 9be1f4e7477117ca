"""Reports of runs and evaluations: the data layer, the terminal view (`codeloop show`),
the HTML report (`codeloop report`) and the live viewer (`codeloop view`)."""
