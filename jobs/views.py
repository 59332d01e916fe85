from django.shortcuts import get_object_or_404, render

from .models import Job


def generate(request):
    return render(request, "jobs/generate.html", {})


def detail(request, pk: int):
    job = get_object_or_404(Job, pk=pk, user=request.user)
    return render(request, "jobs/detail.html", {"job": job})
