"""Config stage (at the ground): digest.yaml read with bounded YAML, validated by one
pydantic model, paths resolved against the file's folder.

Takes a path; gives a ``Config`` or one ``ConfigError`` listing every problem.
"""
