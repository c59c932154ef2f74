"""A website source serves a page to the collection of the path the web server resolves, not of the
spelling a link happened to use: `/pub/%2e%2e/hr/salaris` and `/pub/..%2fhr/salaris` are the hr page.
On a16d950 a link on a public page with such a spelling served the hr page as public."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connectors.fakes.website import FakeSite
from tests.security.conftest import bron, said

SECRET = "Het salaris van de directeur is 250000 euro per jaar; dat is vertrouwelijk."


@pytest.fixture
def site() -> Iterator[FakeSite]:
    s = FakeSite()
    s.put("/hr/salaris", "Salarissen", SECRET)
    links = ["/pub/%2e%2e/hr/salaris", "/pub/..%2fhr/salaris", "/pub/%2E%2E/%68r/salaris"]
    s.put("/pub/welkom", "Welkom", "Welkom bij de koffiebranderij; de koffie is gratis.",
          links=[s.url + link for link in links])  # fmt: skip
    s.put("/", "Intranet", "Start.", links=["/pub/welkom"])
    yield s
    s.close()


def test_an_odd_spelling_of_a_restricted_path_is_still_restricted(
    data_dir: Path, tmp_path: Path, site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "bron.toml"
    toml.write_text(
        f'data_dir = "{data_dir}"\n[sources.intranet]\nkind = "website"\nurl = "{site.url}/"\n'
        'collections = { "/pub/" = "public", "/hr/" = "hr" }\n'
    )
    monkeypatch.setenv("BRON_CONFIG", str(toml))
    synced = bron("sync")
    assert synced.exit_code == 0, said(synced)
    assert any("/hr/salaris" in r.path for r in site.server.requests("/"))  # the hr page was read
    public = said(bron("sources", "salaris directeur vertrouwelijk", "--k", "10"))
    assert "250000" not in public and "Welkom" in public
    assert "250000" in said(bron("sources", "salaris directeur vertrouwelijk", "--collection", "hr"))


def test_a_restricted_path_in_other_letters_is_still_restricted_on_a_case_insensitive_server(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IIS and SharePoint serve `/HR/salaris` as `/hr/salaris`; the mapping's `/hr/` must cover it."""
    site = FakeSite(case_insensitive=True)
    try:
        site.put("/hr/salaris", "Salarissen", SECRET)
        site.put("/", "Welkom", "Welkom bij de koffiebranderij.", links=[site.url + "/HR/Salaris"])
        toml = tmp_path / "bron.toml"
        toml.write_text(
            f'data_dir = "{data_dir}"\n[sources.intranet]\nkind = "website"\nurl = "{site.url}/"\n'
            'collections = { "/" = "public", "/hr/" = "hr" }\n'
        )
        monkeypatch.setenv("BRON_CONFIG", str(toml))
        assert bron("sync").exit_code == 0
        assert any(r.path.startswith("/HR/") for r in site.server.requests("/"))
        assert "250000" not in said(bron("sources", "salaris directeur vertrouwelijk", "--k", "10"))
    finally:
        site.close()
