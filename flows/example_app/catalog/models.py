from django.conf import settings
from django.db import models


class Actor(models.Model):
    name = models.CharField(max_length=200)
    born = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class TagCategory(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "tag categories"

    def __str__(self):
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=100)
    category = models.ForeignKey(TagCategory, on_delete=models.CASCADE, related_name="tags")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class Production(models.Model):
    title = models.CharField(max_length=200)
    year = models.IntegerField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="productions",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.title


class Episode(models.Model):
    title = models.CharField(max_length=200)
    number = models.PositiveIntegerField()
    production = models.ForeignKey(Production, on_delete=models.CASCADE, related_name="episodes")

    class Meta:
        ordering = ["id"]
        unique_together = [("production", "number")]

    def __str__(self):
        return self.title
