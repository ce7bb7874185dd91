"""Twins read as one program: the same outline and the same comment lines in both files.

For every module that exists in both implementations/torch/ and implementations/tf/,
the ordered names of top-level functions and classes and of each class's methods, and
every comment line, are equal; docstrings may name their framework. The only
differences allowed are the framework-only helpers listed below, all in common.py.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

IMPLEMENTATIONS = Path(__file__).resolve().parent.parent / "implementations"
TWIN_MODULES = sorted(
    path.name
    for path in (IMPLEMENTATIONS / "torch").glob("*.py")
    if path.name != "__init__.py" and (IMPLEMENTATIONS / "tf" / path.name).is_file()
)
# The shared base class has the framework in its name; it is one class for this test.
BASE_CLASSES = {"TorchGAN": "FrameworkGAN", "TfGAN": "FrameworkGAN"}
FRAMEWORK_ONLY = {
    "torch": {
        # torch's BatchNorm folds the unbiased variance into running_var; Keras the biased
        "common.py:BiasedMovingVariance",
        "common.py:BiasedMovingVariance.forward",
        "common.py:KerasBatchNorm1d",
        "common.py:KerasBatchNorm2d",
        "common.py:SpecNet.forward",  # nn.Module's call protocol
        "common.py:set_tf32",  # Keras has one switch, called inline
        "common.py:_to_nhwc",  # torch computes in NCHW; Keras stays NHWC
        "common.py:FrameworkGAN.compile_module",  # torch.compile per module
        # which of torch's Adam kernels ran (fused on CUDA), for the row; Keras has one
        "common.py:adam_implementation",
    },
    "tf": {
        "common.py:SpecNet.__call__",  # the Keras-style call protocol
        "common.py:SpecNet.trainable_variables",  # nn.Module.parameters() in torch
        "common.py:FrameworkGAN.run_compiled_step",  # tf.function of train_step, on a device
        # Keras's Adam with epsilon placed as torch.optim.Adam places it
        "common.py:PaperAdam",
        "common.py:PaperAdam.update_step",
    },
}


def outline(path: Path) -> list[tuple[str, int, int]]:
    """(qualified name, first line, last line) of top-level functions, classes and methods."""
    entries = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            name = BASE_CLASSES.get(node.name, node.name)
            entries.append((name, node.lineno, node.end_lineno))
            if isinstance(node, ast.ClassDef):
                entries += [
                    (f"{name}.{item.name}", item.lineno, item.end_lineno)
                    for item in node.body
                    if isinstance(item, ast.FunctionDef)
                ]
    return entries


def comment_lines(path: Path) -> list[tuple[int, str]]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [(t.start[0], t.string) for t in tokens if t.type == tokenize.COMMENT]


def shared_structure(framework: str, module: str) -> tuple[list[str], list[str]]:
    """The outline and the comments of one twin file, framework-only helpers left out."""
    path = IMPLEMENTATIONS / framework / module
    allowed = {
        key.split(":", 1)[1] for key in FRAMEWORK_ONLY[framework] if key.startswith(f"{module}:")
    }
    entries = outline(path)
    skipped = [(first, last) for name, first, last in entries if name in allowed]
    names = [name for name, _, _ in entries if name not in allowed]
    comments = [
        text
        for line, text in comment_lines(path)
        if not any(first <= line <= last for first, last in skipped)
    ]
    return names, comments


def test_the_allow_list_names_only_helpers_that_exist():
    for framework, keys in FRAMEWORK_ONLY.items():
        for key in keys:
            module, name = key.split(":", 1)
            names = [n for n, _, _ in outline(IMPLEMENTATIONS / framework / module)]
            assert name in names, f"{framework}/{key} is allowed but does not exist"


@pytest.mark.parametrize("module", TWIN_MODULES)
def test_twins_have_the_same_outline_and_comment_lines(module):
    torch_names, torch_comments = shared_structure("torch", module)
    tf_names, tf_comments = shared_structure("tf", module)
    assert torch_names == tf_names
    assert torch_comments == tf_comments


def test_every_variant_module_has_its_twin():
    torch_modules = {p.name for p in (IMPLEMENTATIONS / "torch").glob("*.py")}
    tf_modules = {p.name for p in (IMPLEMENTATIONS / "tf").glob("*.py")}
    assert torch_modules == tf_modules
    assert {"common.py", "vanilla.py", "ssgan.py"} <= set(TWIN_MODULES)


def test_the_step_method_has_one_name_in_both_frameworks():
    for framework in ("torch", "tf"):
        for module in ("vanilla.py", "ssgan.py"):
            names = [n for n, _, _ in outline(IMPLEMENTATIONS / framework / module)]
            assert any(name.endswith(".train_step") for name in names), (framework, module)
