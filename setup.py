"""Only for the optional compiled inner loop of code-switching (builders/_cswitch.c, issue #19); everything else
is in pyproject.toml. `optional=True`: without a C compiler the install still succeeds and builders.codeswitch
runs its pure-Python path, which gives the same output."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("builders._cswitch", ["builders/_cswitch.c"], optional=True)])
