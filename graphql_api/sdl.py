"""The committed SDL (`graphql_api/schema.graphql`): `python -m graphql_api.sdl` rewrites it;
a test fails when it differs from the schema in code."""

from __future__ import annotations

from pathlib import Path

SDL_FILE = Path(__file__).parent / "schema.graphql"


def current_sdl() -> str:
    from graphql_api.schema import schema

    return schema.as_str() + "\n"


if __name__ == "__main__":
    SDL_FILE.write_text(current_sdl())
    print(f"wrote {SDL_FILE}")
