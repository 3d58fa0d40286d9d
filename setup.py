"""annsnn: the code generator lives in codegen/ and installs as annsnn.codegen;
the Jinja2 templates in templates/ install as annsnn.templates (package data)."""
from setuptools import setup

setup(
    name="annsnn",
    version="0.1.0",
    description="Convert Keras networks to spiking neural networks and simulate them with generated C++",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=["annsnn", "annsnn.codegen", "annsnn.templates", "annsnn.conversion"],
    package_dir={"annsnn": "annsnn", "annsnn.codegen": "codegen", "annsnn.templates": "templates"},
    package_data={
        "annsnn.templates": ["*.j2"],
        "annsnn": ["data/mnist/*.gz", "data/mnist/*.npz", "data/mnist/*.md", "data/models/*.keras"],
    },
    install_requires=["numpy>=1.23", "sympy>=1.12", "jinja2>=3.0", "cython>=3.0", "filelock>=3.0", "tqdm>=4.60"],
    extras_require={
        "keras": ["tensorflow-cpu>=2.16; platform_machine=='x86_64'", "tensorflow>=2.16; platform_machine!='x86_64'",
                  "h5py", "scikit-learn", "matplotlib"],
        "plot": ["matplotlib"],
        "distributed": ["dask[distributed]>=2024.1"],
        "onnx": ["onnx>=1.15"],
        "nir": ["nir>=1.0"],
        "test": ["pytest>=7", "hypothesis>=6", "pandas", "onnx>=1.15", "nir>=1.0", "scipy"],
    },
    entry_points={"console_scripts": ["annsnn=annsnn.cli:main"]},
)
