"""Installs the clusternodes Python package: pip install ./python (in a
virtualenv, or with --break-system-packages on Debian's own Python). It needs
no network: the standard library is all it uses, and setuptools, which pip
finds beside it, is all it is built with. zk:// masters need kazoo (Debian:
python3-kazoo)."""

from setuptools import setup

setup(
    name="clusternodes",
    version="0.1.0",
    description="Clusternodes for Python: Mesos's Python scheduler interface on a Clusternodes master",
    packages=["clusternodes"],
    package_data={"clusternodes": ["mesos.proto"]},
    python_requires=">=3.9",
    extras_require={"zookeeper": ["kazoo"]},
)
