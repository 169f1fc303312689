from rest_framework import permissions

EDITORS_GROUP = "editors"


def is_editor(user):
    return bool(
        user and user.is_authenticated and user.groups.filter(name=EDITORS_GROUP).exists()
    )


class IsEditorOrReadOnly(permissions.BasePermission):
    """Anyone may read; writing needs a logged-in member of "editors".

    With SessionAuthentication only, a refusal is 403 whether the client is
    anonymous or logged in without the group.
    """

    message = "Only members of the editors group may change productions."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return is_editor(request.user)
