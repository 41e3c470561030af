"""How the course's pages meet their readers: launch links, citations, clean execution, phones.

* ``{pip-install}`course``` renders ``%pip install "git+<repository.url>"`` (for Colab).
* ``{launch}`path/to/notebook.ipynb``` renders "Binder · Colab · source" links to a
  notebook of the repository. Every URL is derived from ``repository.url`` (and
  ``repository.branch``) of ``_config.yml``, the one place the repository is named; the
  launch services come from ``course_launch`` (``binderhub_url``, ``colab_url``). A path
  that is not a file of the repository, or not a ``.ipynb``, is a build error. The
  theme's own launch button is switched off: it would open the chapter's ``.md`` source,
  which Colab cannot open and Binder shows as text.
* Bibliography labels are author-year ("Ioffe & Szegedy 2015"), as the citations in the
  text are (``bibtex_default_style: course``).
* Notebooks are executed with kernels on IPC sockets (as the grader's are), so a build
  prints no "Kernel is running over TCP without encryption" warning per chapter.
* ``course.css`` and ``course.js`` (in ``book/_static``): display math and wide figures
  scroll inside their own box, long inline code breaks, figures open full size on tap.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from urllib.parse import quote

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging
from sphinx.util.docutils import SphinxRole

logger = logging.getLogger(__name__)

LAUNCH_DEFAULTS = {
    "binderhub_url": "https://mybinder.org",
    "colab_url": "https://colab.research.google.com",
}


# ------------------------------------------------------------------------ launch links


def repository(config: Config) -> tuple[str, str, str]:
    """``(url, owner/name, branch)`` from ``repository.url`` / ``.branch`` of _config.yml."""
    options = config.html_theme_options or {}
    url = str(options.get("repository_url", "")).rstrip("/")
    m = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", url)
    if not m:
        raise ValueError(f"repository.url must be https://github.com/<owner>/<name>, got {url!r}")
    return url, m.group(1), str(options.get("repository_branch") or "main")


def launch_urls(config: Config, path: str) -> dict[str, str]:
    """The Binder, Colab and source URLs of the repository file ``path``."""
    url, slug, branch = repository(config)
    services = {**LAUNCH_DEFAULTS, **(config.course_launch or {})}
    binder = services["binderhub_url"].rstrip("/")
    colab = services["colab_url"].rstrip("/")
    return {
        "Binder": f"{binder}/v2/gh/{slug}/{branch}?urlpath={quote('lab/tree/' + path, safe='')}",
        "Colab": f"{colab}/github/{slug}/blob/{branch}/{path}",
        "source": f"{url}/blob/{branch}/{path}",
    }


class LaunchRole(SphinxRole):
    """``{launch}`exercises/bn03_mechanics/batchnorm_mechanics.ipynb```."""

    def run(self):
        path = self.text.strip().lstrip("/")
        source = Path(self.env.srcdir, path)
        problems = []
        if not path.endswith(".ipynb"):
            problems.append("launch links open notebooks: the path must end in .ipynb")
        if not source.is_file():
            problems.append(f"{path} is not a file of the repository")
        if problems:
            msg = self.inliner.reporter.error("{launch}: " + "; ".join(problems), line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        container = nodes.inline(classes=["launch-links"])
        for i, (name, url) in enumerate(launch_urls(self.config, path).items()):
            if i:
                container += nodes.Text(" · ")
            label = f"open in {name}" if name != "source" else "view the source"
            container += nodes.reference("", label, refuri=url, classes=["launch-link"])
        return [container], []


class PipInstallRole(SphinxRole):
    """``{pip-install}`course```: the notebook command that installs the course package
    from the repository (``%pip install "git+<repository.url>"``)."""

    def run(self):
        url = repository(self.config)[0]
        command = f'%pip install "git+{url}"'
        return [nodes.literal(command, command, classes=["pip-install"])], []


# ------------------------------------------------------------------------ author-year labels


def _register_bib_style() -> None:
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.plain import Style as PlainStyle
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        """ "Ioffe & Szegedy 2015", "Santurkar et al. 2018", "Mishkin 2016"."""

        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                names = [" ".join(p.last_names) for p in people]
                if len(names) > 2:
                    who = f"{names[0]} et al."
                else:
                    who = " & ".join(names) or entry.key
                yield f"{who} {entry.fields.get('year', '')}".strip()

    class CourseStyle(PlainStyle):
        default_label_style = "course_author_year"

    try:
        register_plugin("pybtex.style.labels", "course_author_year", AuthorYearLabels)
        register_plugin("pybtex.style.formatting", "course", CourseStyle)
    except Exception:  # already registered in this process (a second build)
        pass


# ------------------------------------------------------------------------ IPC kernels


def _use_ipc_kernels() -> None:
    """Run MyST-NB's notebooks in kernels on IPC sockets instead of TCP."""
    try:
        from myst_nb.core.execute import cache as nb_cache
    except ImportError:  # pragma: no cover - another MyST-NB layout: keep its default
        return
    original = nb_cache.single_nb_execution
    if getattr(original, "_course_ipc", False):
        return

    def single_nb_execution(*args, **kwargs):
        from traitlets.config import Config as TConfig

        with tempfile.TemporaryDirectory(prefix="bnk") as run:
            config = TConfig()
            config.KernelManager.transport = "ipc"
            config.KernelManager.ip = str(Path(run) / "k")
            kwargs.setdefault("config", config)
            return original(*args, **kwargs)

    single_nb_execution._course_ipc = True
    nb_cache.single_nb_execution = single_nb_execution


# ------------------------------------------------------------------------ setup


def _configure(app: Sphinx, config: Config) -> None:
    options = dict(config.html_theme_options or {})
    # The launch button would open the page's .md source: the {launch} role replaces it.
    launch = dict(options.get("launch_buttons") or {})
    launch.update(binderhub_url="", colab_url="", jupyterhub_url="", deepnote_url="")
    options["launch_buttons"] = launch
    # pydata-sphinx-theme 0.17 adds a second search field in the header; keep the sidebar's.
    options["navbar_persistent"] = []
    config.html_theme_options = options
    repository(config)  # fail early on a malformed repository.url


def setup(app: Sphinx) -> dict:
    app.add_config_value("course_launch", dict(LAUNCH_DEFAULTS), "env", [dict])
    app.add_role("launch", LaunchRole())
    app.add_role("pip-install", PipInstallRole())
    app.connect("config-inited", _configure, priority=900)
    app.add_css_file("course.css")
    app.add_js_file("course.js", defer="defer")
    _register_bib_style()
    _use_ipc_kernels()
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
