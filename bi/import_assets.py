"""Import the dashboard bundle into Superset, overwriting every database, dataset, chart and dashboard it holds.

Run by `nps bi setup` with .venv-bi's Python: `python bi/import_assets.py BUNDLE.zip USERNAME`. Superset's
`import-dashboards` command never updates charts or datasets that exist already, so an edit of bi/dashboard.yaml
would not show; the assets import (what `/api/v1/assets/import/` runs) treats the bundle as the source of truth.
"""

import sys
import zipfile


def main(path: str, username: str) -> None:
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.utils.core import override_user

        user = security_manager.find_user(username=username)
        if user is None:
            raise SystemExit(f"no Superset user {username!r}: run `superset fab create-admin` first")
        with zipfile.ZipFile(path) as bundle:
            contents = get_contents_from_bundle(bundle)
        with override_user(user):
            ImportAssetsCommand(contents).run()
    print(f"imported {len(contents)} files from {path}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
