"""``faqbot user``: desk accounts (agents, editors, admins) and the HTTP API tokens that act as them.

Changing a password, a role or disabling a user signs that user out
everywhere (their sessions are deleted; bot/storage/accounts.py).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from bot.services import Services
from bot.storage.accounts import ROLES


def add_parser(commands: argparse._SubParsersAction) -> None:
    user = commands.add_parser("user", help="manage desk users")
    sub = user.add_subparsers(dest="user_command", required=True)
    add = sub.add_parser("add", help="create a user (asks for the password, or reads it from stdin)")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--name", default="", help="the name customers and colleagues see (default: the username)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_add)
    passwd = sub.add_parser("passwd", help="set a user's password (and sign them out everywhere)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(func=cmd_passwd)
    role = sub.add_parser("role", help="give a user another role (and sign them out everywhere)")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(func=cmd_role)
    for name, disabled in (("disable", True), ("enable", False)):
        cmd = sub.add_parser(
            name, help=f"{name} a user's sign-in" + (" (and sign them out everywhere)" if disabled else "")
        )
        cmd.add_argument("username")
        cmd.set_defaults(func=cmd_disable, disabled=disabled)
    listing = sub.add_parser("list", help="list users")
    listing.set_defaults(func=cmd_list)
    token = sub.add_parser("token", help="create an HTTP API token acting as a user (printed once; docs/api.md)")
    token.add_argument("username")
    token.add_argument("--name", required=True, help="who uses it, e.g. 'cms' or 'helpdesk'")
    token.set_defaults(func=cmd_token)
    tokens = sub.add_parser("tokens", help="list HTTP API tokens (never their secrets)")
    tokens.set_defaults(func=cmd_tokens)
    revoke = sub.add_parser("revoke-token", help="stop an HTTP API token for good")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(func=cmd_revoke_token)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("faqbot: the passwords differ")
    return first


def cmd_add(args: argparse.Namespace, services: Services) -> int:
    user = services.user_store.add(args.username, _password(args), role=args.role, display_name=args.name)
    print(f"created {user.role} {user.username} ({user.display_name})")
    return 0


def _ended(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'} ended"


def cmd_passwd(args: argparse.Namespace, services: Services) -> int:
    ended = services.user_store.set_password(args.username, _password(args))
    print(f"password of {args.username} changed; {_ended(ended)}")
    return 0


def cmd_role(args: argparse.Namespace, services: Services) -> int:
    ended = services.user_store.set_role(args.username, args.role)
    print(f"{args.username} is now {args.role}; {_ended(ended)}")
    return 0


def cmd_disable(args: argparse.Namespace, services: Services) -> int:
    ended = services.user_store.set_disabled(args.username, args.disabled)
    print(f"{args.username} {'disabled' if args.disabled else 'enabled'}; {_ended(ended)}")
    return 0


def cmd_list(args: argparse.Namespace, services: Services) -> int:
    for user in services.user_store.users():
        state = " (disabled)" if user.disabled else ""
        print(f"{user.username:20} {user.role:7} {user.display_name}{state}")
    return 0


def cmd_token(args: argparse.Namespace, services: Services) -> int:
    token, secret = services.token_store.create(args.username, args.name)
    print(f"token {token.id} ({token.name}) acts as {token.username}; keep it secret, it is not shown again:")
    print(secret)
    return 0


def cmd_tokens(args: argparse.Namespace, services: Services) -> int:
    for token in services.token_store.tokens():
        state = "revoked" if token.revoked_at else ("never used" if token.last_used_at is None else "in use")
        print(f"{token.id:5} {token.username:20} {token.name:24} {state}")
    return 0


def cmd_revoke_token(args: argparse.Namespace, services: Services) -> int:
    if not services.token_store.revoke(args.token_id):
        print(f"faqbot: there is no live token {args.token_id}", file=sys.stderr)
        return 1
    print(f"token {args.token_id} revoked")
    return 0
