"""Marks the wheel as platform-specific: it carries the native library."""

from setuptools import setup
from setuptools.dist import Distribution

try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            # ctypes, not the CPython ABI: any Python 3 on this platform.
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    cmdclass = {"bdist_wheel": PlatformWheel}
except ImportError:  # building an sdist only
    cmdclass = {}


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(cmdclass=cmdclass, distclass=BinaryDistribution)
