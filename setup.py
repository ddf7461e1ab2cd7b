"""Install the RAP-SAM OpenMMLab plugin (``pip install -e .``)."""
from setuptools import find_packages, setup


def read_requirements(path: str) -> list:
    """Read one requirements file, skipping comments and ``-r`` includes."""
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line and not line.startswith('-')]


setup(
    name='rap_sam',
    version='0.1.0',
    description='RAP-SAM: real-time all-purpose segmentation as an '
    'OpenMMLab (MMDetection 3.x) plugin',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.11',
    package_dir={'': 'projects/rap_sam'},
    packages=find_packages('projects/rap_sam'),
    install_requires=read_requirements('requirements/runtime.txt'),
    license='Apache License 2.0',
)
